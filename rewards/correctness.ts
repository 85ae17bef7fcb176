import type { RewardComponent } from './types.ts';

/** SWE-bench: 1 iff submitted and every FAIL_TO_PASS and PASS_TO_PASS test passes. */
export const resolvedReward: RewardComponent = (signals) => {
  const grade = signals.grade;
  const resolved = signals.submitted && grade?.resolved === true;
  return {
    value: resolved ? 1 : 0,
    details: { status: grade?.status ?? 'not_graded', f2p: grade?.f2pFraction, p2p: grade?.p2pFraction },
  };
};

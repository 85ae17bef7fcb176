// Secrets with secretlint's maintained rule set (@secretlint/secretlint-rule-preset-recommend: AWS, GCP, GitHub,
// Slack, npm, private keys, OpenAI, …) through @secretlint/core, which lints a string and loads no config file.
// Only secrets on lines the patch added count: a key already in the base is not the agent's doing.
import { lintSource } from '@secretlint/core';
import { creator as recommended } from '@secretlint/secretlint-rule-preset-recommend';
import type { ChangedFile, Finding } from './index.ts';

const PRESET_ID = '@secretlint/secretlint-rule-preset-recommend';
const config = {
  rules: [
    {
      id: PRESET_ID,
      rule: recommended,
      // The AWS rule skips bare access key ids by default; an `AKIA…` id in a patch is worth flagging.
      rules: [{ id: '@secretlint/secretlint-rule-aws', options: { enableIDScanRule: true } }],
    },
  ],
};

export async function addedSecrets(files: ChangedFile[]): Promise<{ findings: Finding[]; errors: string[] }> {
  const findings: Finding[] = [];
  const errors: string[] = [];
  for (const f of files) {
    if (f.after === null || f.after === f.before) continue;
    const beforeLines = new Set((f.before ?? '').split('\n'));
    const afterLines = f.after.split('\n');
    let result;
    try {
      result = await lintSource({
        source: { content: f.after, filePath: f.path, ext: extOf(f.path), contentType: 'text' },
        // Masked, so the signals stored in SQLite never hold the secret itself.
        options: { config, maskSecrets: true, noPhysicFilePath: true },
      });
    } catch (e) {
      errors.push(`secretlint: ${f.path}: ${(e as Error).message}`);
      continue;
    }
    for (const m of result.messages) {
      const { start, end } = m.loc;
      const lines = afterLines.slice(start.line - 1, end.line);
      if (lines.every((l) => beforeLines.has(l))) continue;
      findings.push({
        tool: 'secretlint',
        rule: m.ruleId.replace('@secretlint/secretlint-rule-', ''),
        file: f.path,
        line: start.line,
        message: m.message,
        severity: 'high',
      });
    }
  }
  return { findings, errors };
}

const extOf = (p: string) => /\.[^./]+$/.exec(p)?.[0] ?? '';

// Optional OpenTelemetry spans of an episode: the episode, each step, each command a sandbox runs, grading
// phases. Only @opentelemetry/api: the caller brings the tracer (and its SDK); without one nothing is wrapped.
// Parents are passed explicitly, never through a global context manager: episodes run concurrently.
import {
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { capText } from './sandbox/exec.ts';
import type { ExecResult, Sandbox } from './sandbox/types.ts';
import type { Telemetry } from './types.ts';

/** Bytes of a command's output kept on its span's `log` event (head and tail). */
export const LOG_EVENT_BYTES = 16 * 1024;
/** Characters of a command line kept as a span attribute. */
const COMMAND_CHARS = 1024;

/** Where new spans go: a tracer and the context that holds their parent. */
export class Tracing {
  constructor(
    readonly tracer: Tracer,
    readonly context: Context = ROOT_CONTEXT,
  ) {}

  /** A child span, and the Tracing under which its own children go. Whoever starts it ends it. */
  start(name: string, attributes: Attributes = {}): { span: Span; tracing: Tracing } {
    const span = this.tracer.startSpan(name, { attributes }, this.context);
    return { span, tracing: new Tracing(this.tracer, trace.setSpan(this.context, span)) };
  }
}

export function failSpan(span: Span, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err));
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/** Runs `fn` in a child span of `tracing` (plainly when there is none); a thrown error marks the span. */
export async function inSpan<T>(
  tracing: Tracing | undefined,
  name: string,
  attributes: Attributes,
  fn: (child: Tracing | undefined, span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!tracing) return fn(undefined, undefined);
  const { span, tracing: child } = tracing.start(name, attributes);
  try {
    return await fn(child, span);
  } catch (err) {
    failSpan(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** Attributes without the null values (unmeasured telemetry) that OpenTelemetry has no type for. */
export function attributes(values: Record<string, string | number | boolean | null | undefined>): Attributes {
  const kept: Attributes = {};
  for (const [key, value] of Object.entries(values))
    if (value !== null && value !== undefined) kept[key] = value;
  return kept;
}

export function telemetryAttributes(telemetry: Telemetry): Attributes {
  return attributes({
    'repogym.wall_ms': telemetry.wallMs,
    'repogym.cpu_ms': telemetry.cpuMs,
    'repogym.peak_rss_kb': telemetry.peakRssKb,
  });
}

export function testAttributes(tests: { status: string }[]): Attributes {
  const failing = tests.filter((t) => t.status === 'failed' || t.status === 'error').length;
  return {
    'repogym.tests.total': tests.length,
    'repogym.tests.passed': tests.filter((t) => t.status === 'passed').length,
    'repogym.tests.failing': failing,
  };
}

function execSpanName(command: string | string[]): string {
  const program = (Array.isArray(command) ? command[0] : command.trim().split(/\s+/)[0]) ?? '';
  return `exec ${program.slice(0, 40)}`;
}

function recordExec(span: Span, result: ExecResult): void {
  span.setAttributes({
    ...attributes({
      'process.exit.code': result.exitCode,
      'repogym.exec.signal': result.signal,
      'repogym.exec.timed_out': result.timedOut,
      'repogym.exec.out_of_memory': result.outOfMemory,
      'repogym.output_bytes': result.outputBytes ?? Buffer.byteLength(result.output) + result.truncatedBytes,
      'repogym.output.truncated_bytes': result.truncatedBytes,
    }),
    ...telemetryAttributes(result.telemetry),
  });
  // The command's log stays with the episode: on its span, head and tail kept.
  span.addEvent('log', { output: capText(result.output, LOG_EVENT_BYTES) });
  if (result.timedOut || result.outOfMemory) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: result.timedOut ? 'timed out' : 'out of memory' });
  }
}

/** The sandbox itself without tracing; otherwise a view of it whose commands and diffs are child spans. */
export function tracedSandbox(sandbox: Sandbox, tracing: Tracing | undefined): Sandbox {
  if (!tracing) return sandbox;
  return {
    root: sandbox.root,
    layer: sandbox.layer,
    isolation: sandbox.isolation,
    exec: (command, opts) => {
      const line = Array.isArray(command) ? command.join(' ') : command;
      const started = attributes({
        'process.command_line': line.slice(0, COMMAND_CHARS),
        'repogym.exec.timeout_sec': opts?.timeoutSec,
        'repogym.exec.stdin_bytes': opts?.stdin === undefined ? undefined : Buffer.byteLength(opts.stdin),
      });
      return inSpan(tracing, execSpanName(command), started, async (_child, span) => {
        const result = await sandbox.exec(command, opts);
        recordExec(span!, result);
        return result;
      });
    },
    readFile: (relPath) => sandbox.readFile(relPath),
    writeFile: (relPath, content) => sandbox.writeFile(relPath, content),
    resolve: (relPath) => sandbox.resolve(relPath),
    diff: () => inSpan(tracing, 'sandbox.diff', {}, () => sandbox.diff()),
    dispose: () => inSpan(tracing, 'sandbox.dispose', {}, () => sandbox.dispose()),
  };
}

/** A sandbox factory whose sandboxes' creation, commands and disposal are child spans of `tracing`. */
export function tracedFactory(
  factory: () => Promise<Sandbox>,
  tracing: Tracing | undefined,
): () => Promise<Sandbox> {
  if (!tracing) return factory;
  return async () => tracedSandbox(await inSpan(tracing, 'sandbox.create', {}, factory), tracing);
}

// Episode traces (docs/traces.md). The runner gives every episode its own tracer provider (never registered
// globally: episodes run concurrently) that keeps finished spans in memory; when the episode ends they are
// saved as OTLP JSON in <run>/traces/<episode-id>.json and, if the config names a collector, sent to it over
// OTLP/HTTP. `readTrace` validates a saved file against the OTLP JSON shape; the report's timeline and
// `repogym trajectory` draw from it.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { z } from 'zod';

export const TRACES_DIR = 'traces';

export function traceFile(runDir: string, episodeId: string): string {
  // Ids come from the store; one with a path separator in it would read outside the run.
  if (!/^[\w-]+$/.test(episodeId)) throw new Error(`not an episode id: ${JSON.stringify(episodeId)}`);
  return path.join(runDir, TRACES_DIR, `${episodeId}.json`);
}

/** One episode's tracer: its spans stay in memory until `finish`. */
export class EpisodeTrace {
  private readonly memory = new InMemorySpanExporter();
  private readonly provider: BasicTracerProvider;
  readonly tracer: Tracer;

  constructor(experimentId: string, episodeId: string) {
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: 'repogym',
        'repogym.experiment_id': experimentId,
        'repogym.episode_id': episodeId,
      }),
      spanProcessors: [new SimpleSpanProcessor(this.memory)],
    });
    this.tracer = this.provider.getTracer('repogym');
  }

  /** The finished spans; the provider is shut down. */
  async finish(): Promise<ReadableSpan[]> {
    await this.provider.forceFlush();
    const spans = this.memory.getFinishedSpans();
    await this.provider.shutdown();
    return spans;
  }
}

/** OTLP JSON (an ExportTraceServiceRequest), encoded by OpenTelemetry's own serializer. */
export function otlpJson(spans: ReadableSpan[]): string {
  const bytes = JsonTraceSerializer.serializeRequest(spans);
  return bytes ? new TextDecoder().decode(bytes) : '{"resourceSpans":[]}';
}

/** Written whole or not at all: a run killed mid-write leaves no half file for the report to trip on. */
export async function writeTrace(runDir: string, episodeId: string, spans: ReadableSpan[]): Promise<void> {
  const file = traceFile(runDir, episodeId);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, otlpJson(spans));
  await rename(`${file}.tmp`, file);
}

/** Sends episodes' spans to an OTLP/HTTP collector. A failing collector never fails a run: it warns once. */
export class OtlpForwarder {
  private readonly exporter: OTLPTraceExporter;
  private warned = false;
  readonly url: string;

  constructor(endpoint: string, headers: Record<string, string>, timeoutSec: number) {
    this.url = `${endpoint.replace(/\/+$/, '')}/v1/traces`;
    this.exporter = new OTLPTraceExporter({ url: this.url, headers, timeoutMillis: timeoutSec * 1000 });
  }

  /** Returns at once; the export runs in the background (awaited by `shutdown`). */
  send(spans: ReadableSpan[]): void {
    this.exporter.export(spans, (result) => {
      // 0 is ExportResultCode.SUCCESS.
      if (result.code === 0 || this.warned) return;
      this.warned = true;
      process.emitWarning(
        `exporting traces to ${this.url} failed (${result.error?.message ?? 'no reason given'}); they are still ` +
          'saved in <run>/traces, and further export failures of this run are not reported',
        { code: 'REPOGYM_OTLP_EXPORT' },
      );
    });
  }

  /** Waits for the exports in flight, each bounded by the timeout. */
  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }
}

// The OTLP JSON shape (opentelemetry-proto, JSON mapping): hex ids, nanosecond times as decimal strings,
// attributes as key/AnyValue pairs. Fields at their default value may be left out, as the mapping allows.
export type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: number | string }
  | { doubleValue: number }
  | { bytesValue: string }
  | { arrayValue: { values?: AnyValue[] } }
  | { kvlistValue: { values?: KeyValue[] } }
  | Record<string, never>;
export interface KeyValue {
  key: string;
  value: AnyValue;
}

const keyValueSchema: z.ZodType<KeyValue> = z.lazy(() =>
  z.object({ key: z.string(), value: anyValueSchema }),
);
const anyValueSchema: z.ZodType<AnyValue> = z.lazy(() =>
  z.union([
    z.strictObject({ stringValue: z.string() }),
    z.strictObject({ boolValue: z.boolean() }),
    z.strictObject({ intValue: z.union([z.number().int(), z.string().regex(/^-?\d+$/)]) }),
    z.strictObject({ doubleValue: z.number() }),
    z.strictObject({ bytesValue: z.string() }),
    z.strictObject({ arrayValue: z.object({ values: z.array(anyValueSchema).optional() }) }),
    z.strictObject({ kvlistValue: z.object({ values: z.array(keyValueSchema).optional() }) }),
    z.strictObject({}),
  ]),
);

const hex = (digits: number) =>
  z.string().regex(new RegExp(`^[0-9a-f]{${digits}}$`), `${digits} lowercase hex digits`);
const unixNano = z.string().regex(/^\d+$/, 'nanoseconds since the epoch as a decimal string');
const attributeList = z.array(keyValueSchema).optional();

export const otlpSpanSchema = z
  .object({
    traceId: hex(32),
    spanId: hex(16),
    parentSpanId: z.union([hex(16), z.literal('')]).optional(),
    name: z.string(),
    kind: z.number().int().min(0).max(5).optional(),
    startTimeUnixNano: unixNano,
    endTimeUnixNano: unixNano,
    attributes: attributeList,
    events: z
      .array(z.object({ timeUnixNano: unixNano, name: z.string(), attributes: attributeList }))
      .optional(),
    status: z
      .object({ code: z.number().int().min(0).max(2).optional(), message: z.string().optional() })
      .optional(),
  })
  .refine((s) => BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano), {
    message: 'the span ends before it starts',
    path: ['endTimeUnixNano'],
  });

export const otlpTraceSchema = z.object({
  resourceSpans: z.array(
    z.object({
      resource: z.object({ attributes: attributeList }).optional(),
      scopeSpans: z.array(
        z.object({
          scope: z.object({ name: z.string(), version: z.string().optional() }).optional(),
          spans: z.array(otlpSpanSchema),
        }),
      ),
    }),
  ),
});

export type OtlpSpan = z.infer<typeof otlpSpanSchema>;
export type OtlpTrace = z.infer<typeof otlpTraceSchema>;

/** Parses and validates OTLP JSON; the error names the first bad field's path. */
export function parseTrace(text: string, source = 'trace'): OtlpTrace {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = otlpTraceSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${source}: not OTLP JSON: ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/** An episode's saved trace, validated; null when the episode has none (a run from before traces). */
export async function readTrace(runDir: string, episodeId: string): Promise<OtlpTrace | null> {
  const file = traceFile(runDir, episodeId);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return parseTrace(text, file);
}

export function attributeValue(value: AnyValue): unknown {
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return value.doubleValue;
  if ('bytesValue' in value) return value.bytesValue;
  if ('arrayValue' in value) return (value.arrayValue.values ?? []).map(attributeValue);
  if ('kvlistValue' in value) return attributeRecord(value.kvlistValue.values);
  return null;
}

export function attributeRecord(list: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, attributeValue(kv.value)]));
}

export interface TimelineRow {
  spanId: string;
  name: string;
  /** 0 for a root span. */
  depth: number;
  /** Milliseconds after the trace's first span started. */
  startMs: number;
  durationMs: number;
  error: boolean;
  attributes: Record<string, unknown>;
}

/** Every span of a trace in tree order (each span before its children, siblings by start time). */
export function timeline(trace: OtlpTrace): TimelineRow[] {
  const spans = trace.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
  if (spans.length === 0) return [];
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, OtlpSpan[]>();
  // A span whose parent is not in the file (one that never ended) is drawn as a root.
  const roots: OtlpSpan[] = [];
  for (const span of spans) {
    const parent = span.parentSpanId && ids.has(span.parentSpanId) ? span.parentSpanId : undefined;
    if (!parent) roots.push(span);
    else children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  const origin = spans.reduce(
    (min, s) => (BigInt(s.startTimeUnixNano) < min ? BigInt(s.startTimeUnixNano) : min),
    BigInt(spans[0]!.startTimeUnixNano),
  );
  const byStart = (a: OtlpSpan, b: OtlpSpan) => {
    const d = BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  };
  const rows: TimelineRow[] = [];
  const visit = (span: OtlpSpan, depth: number) => {
    const start = BigInt(span.startTimeUnixNano);
    rows.push({
      spanId: span.spanId,
      name: span.name,
      depth,
      startMs: Number(start - origin) / 1e6,
      durationMs: Number(BigInt(span.endTimeUnixNano) - start) / 1e6,
      error: span.status?.code === 2,
      attributes: attributeRecord(span.attributes),
    });
    for (const child of (children.get(span.spanId) ?? []).sort(byStart)) visit(child, depth + 1);
  };
  for (const root of roots.sort(byStart)) visit(root, 0);
  return rows;
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms >= 10 ? 0 : 1)} ms`;
}

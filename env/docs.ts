// Context a policy can load from the task's repository: the project overview (tier 1, every episode) and the
// docs a `read_doc{topic}` action pulls on demand (tier 3). Reads through the sandbox only.
import type { Task } from '../datasets/types.ts';
import type { Sandbox } from './sandbox/types.ts';

/** First of these at the repository root is the overview: agent-facing files before the README. */
const OVERVIEW_FILES = ['AGENTS.md', 'CLAUDE.md', 'README.md', 'README.rst', 'README.txt', 'README'];
const OVERVIEW_MAX_CHARS = 16_000;
const DOC_DIRS = ['docs', 'doc'];
const DOC_FILE = /\.(md|markdown|rst|txt|adoc)$/i;
const MAX_DOC_FILES = 200;
const DOC_MAX_CHARS = 12_000;

export interface Overview {
  path: string;
  text: string;
}

export async function projectOverview(sandbox: Sandbox): Promise<Overview | null> {
  for (const file of OVERVIEW_FILES) {
    const text = await sandbox.readFile(file).catch(() => null);
    if (text?.trim()) return { path: file, text: text.slice(0, OVERVIEW_MAX_CHARS) };
  }
  return null;
}

/** A knowledge base a dataset can ship in a task's `context.knowledge_base`. */
interface KnowledgeEntry {
  topic: string;
  text: string;
}

function knowledgeBase(task: Task): KnowledgeEntry[] {
  const entries = task.context.knowledge_base;
  if (!Array.isArray(entries)) return [];
  return entries.filter(
    (e): e is KnowledgeEntry =>
      typeof e === 'object' && e !== null && typeof e.topic === 'string' && typeof e.text === 'string',
  );
}

const words = (text: string) => [...new Set(text.toLowerCase().match(/[a-z0-9_]{3,}/g) ?? [])];

/** Scores a document for a topic: matches in its name count most, then occurrences in its text. */
function relevance(topicWords: string[], name: string, text: string): number {
  const lowerName = name.toLowerCase();
  const lowerText = text.toLowerCase();
  let score = 0;
  for (const word of topicWords) {
    if (lowerName.includes(word)) score += 10;
    score += Math.min(20, lowerText.split(word).length - 1);
  }
  return score;
}

export interface DocLookup {
  output: string;
  /** What was found, for logs: the chosen document and the other candidates. */
  info: { topic: string; chosen: string | null; candidates: string[] };
}

export async function readDoc(sandbox: Sandbox, task: Task, topic: string): Promise<DocLookup> {
  const topicWords = words(topic);
  const docs: { name: string; text: string }[] = knowledgeBase(task).map((e) => ({
    name: `knowledge_base:${e.topic}`,
    text: e.text,
  }));
  for (const dir of DOC_DIRS) {
    const listing = await sandbox.exec(['find', dir, '-maxdepth', '4', '-type', 'f', '-size', '-256k']);
    if (listing.exitCode !== 0) continue;
    const files = listing.output
      .split('\n')
      .filter((f) => DOC_FILE.test(f))
      .sort()
      .slice(0, MAX_DOC_FILES);
    for (const file of files) {
      const text = await sandbox.readFile(file).catch(() => null);
      if (text !== null) docs.push({ name: file, text });
    }
  }
  const ranked = docs
    .map((d) => ({ ...d, score: relevance(topicWords, d.name, d.text) }))
    .filter((d) => d.score > 0)
    .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));
  const best = ranked[0];
  if (!best) {
    const available = docs.map((d) => d.name);
    const output = available.length
      ? `no document matches "${topic}". Available: ${available.join(', ')}`
      : 'this repository has no docs/ folder and the dataset no knowledge base';
    return { output, info: { topic, chosen: null, candidates: available } };
  }
  const others = ranked.slice(1, 6).map((d) => d.name);
  const text =
    best.text.length > DOC_MAX_CHARS ? `${best.text.slice(0, DOC_MAX_CHARS)}\n[... cut ...]` : best.text;
  const output = [
    `# ${best.name}`,
    '',
    text,
    ...(others.length ? ['', `other matches: ${others.join(', ')}`] : []),
  ];
  return {
    output: output.join('\n'),
    info: { topic, chosen: best.name, candidates: ranked.map((d) => d.name) },
  };
}

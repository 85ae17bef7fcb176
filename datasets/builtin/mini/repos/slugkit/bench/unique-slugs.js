// Benchmark (not a test): times uniqueSlugs() over the headings of generated documents.
//
//   node bench/unique-slugs.js [documents=20] [headings per document=5000]
import { uniqueSlugs } from '../src/index.js';

const documents = Number(process.argv[2] ?? 20);
const headings = Number(process.argv[3] ?? 5000);

function headingsOf(doc) {
  const titles = [];
  for (let i = 0; i < headings; i++) {
    // Mostly distinct headings, with the repeats real documents have ("Example", "Notes", …).
    titles.push(i % 10 === 0 ? ['Example', 'Notes', 'See also'][i % 3] : `Part ${doc}.${i >> 4}: step ${i % 16}`);
  }
  return titles;
}

const corpus = Array.from({ length: documents }, (_, doc) => headingsOf(doc));
const started = performance.now();
let distinct = 0;
for (const titles of corpus) {
  distinct += new Set(uniqueSlugs(titles)).size;
}
const elapsed = performance.now() - started;
console.log(
  `uniqueSlugs: ${documents} documents x ${headings} headings, ${distinct} distinct slugs, ${elapsed.toFixed(1)} ms`,
);

// `npm run schema`: writes experiments/schema.json (the experiment config's JSON Schema, for editors).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { format } from 'prettier';
import { experimentJsonSchema } from '../experiments/config.ts';

const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'experiments', 'schema.json');
// Formatted as the linter expects, so a regenerated file passes `prettier --check`.
writeFileSync(file, await format(JSON.stringify(experimentJsonSchema), { parser: 'json' }));
console.log(`wrote ${file}`);

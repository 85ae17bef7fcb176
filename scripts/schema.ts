// `npm run schema`: writes experiments/schema.json (the experiment config's JSON Schema, for editors).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { experimentJsonSchema } from '../experiments/config.ts';

const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'experiments', 'schema.json');
writeFileSync(file, JSON.stringify(experimentJsonSchema, null, 2) + '\n');
console.log(`wrote ${file}`);

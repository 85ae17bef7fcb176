export { parse } from './parse.js';
export { stringify } from './stringify.js';
export { inferType } from './infer.js';
export { CsvError } from './errors.js';

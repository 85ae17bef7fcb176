export { slugify } from './slugify.js';
export { words, camelCase, pascalCase, kebabCase, snakeCase, capitalize } from './case.js';
export { truncate } from './truncate.js';
export { wordWrap } from './wrap.js';
export { uniqueSlugs } from './unique.js';

/**
 * Turns arbitrary text into a URL-friendly slug.
 *
 * @param {string} input
 * @param {{ separator?: string, lowercase?: boolean, maxLength?: number }} [options]
 * @returns {string}
 */
export function slugify(input, options = {}) {
  const { separator = '-', lowercase = true, maxLength } = options;
  if (typeof input !== 'string') {
    throw new TypeError(`slugify expects a string, got ${typeof input}`);
  }
  const sep = escapeRegExp(separator);

  let slug = input
    // Decompose accented letters ("é" -> "e" + U+0301) so the marks can be dropped.
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9]+/g, separator)
    .replace(new RegExp(`^(?:${sep})+|(?:${sep})+$`, 'g'), '');

  if (lowercase) {
    slug = slug.toLowerCase();
  }

  if (maxLength !== undefined && slug.length > maxLength) {
    slug = slug.slice(0, maxLength).replace(new RegExp(`(?:${sep})+$`), '');
  }
  return slug;
}

function escapeRegExp(value) {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

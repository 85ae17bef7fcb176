import { slugify } from './slugify.js';

/**
 * Slugs for a list of titles (e.g. the heading anchors of a document), unique within the list: a
 * slug that is already taken gets the first free counter suffix, `intro`, `intro-2`, `intro-3`…
 *
 * @param {string[]} titles
 * @param {{ separator?: string, lowercase?: boolean, maxLength?: number }} [options] as for slugify
 * @returns {string[]}
 */
export function uniqueSlugs(titles, options = {}) {
  const { separator = '-' } = options;
  const taken = new Set();
  // Last suffix given to each base slug: the next free one is never below it.
  const counters = new Map();
  return titles.map((title) => {
    const base = slugify(title, options);
    let n = counters.get(base) ?? 1;
    let slug = n === 1 ? base : `${base}${separator}${n}`;
    while (taken.has(slug)) {
      n += 1;
      slug = `${base}${separator}${n}`;
    }
    counters.set(base, n);
    taken.add(slug);
    return slug;
  });
}

/**
 * @param {number} total number of items
 * @param {number} perPage items per page (> 0)
 * @returns {number}
 */
export function pageCount(total, perPage) {
  if (!(perPage > 0)) {
    throw new RangeError(`perPage must be positive, got ${perPage}`);
  }
  return Math.ceil(Math.max(0, total) / perPage);
}

/**
 * Returns one page of `items` plus navigation metadata. Pages are 1-based.
 *
 * @template T
 * @param {T[]} items
 * @param {{ page?: number, perPage?: number }} [options]
 */
export function paginate(items, options = {}) {
  const { page = 1, perPage = 20 } = options;
  if (!Number.isInteger(page) || page < 1) {
    throw new RangeError(`page must be an integer >= 1, got ${page}`);
  }
  const total = items.length;
  const totalPages = pageCount(total, perPage);
  const start = (page - 1) * perPage;
  return {
    items: items.slice(start, start + perPage),
    page,
    perPage,
    total,
    totalPages,
    hasPrev: page > 1,
    hasNext: page < totalPages,
  };
}

/**
 * Page numbers to show in a pager: up to `size` consecutive pages around `current`,
 * never outside 1..totalPages.
 *
 * @param {number} current
 * @param {number} totalPages
 * @param {number} [size]
 * @returns {number[]}
 */
export function pageWindow(current, totalPages, size = 5) {
  if (totalPages <= 0) {
    return [];
  }
  const count = Math.min(size, totalPages);
  const half = Math.floor(count / 2);
  const start = Math.max(1, Math.min(current - half, totalPages - count + 1));
  return Array.from({ length: count }, (_, index) => start + index);
}

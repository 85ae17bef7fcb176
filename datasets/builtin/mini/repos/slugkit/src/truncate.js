/**
 * Shortens `input` so that the result, omission included, is at most `length` characters.
 *
 * @param {string} input
 * @param {number} length
 * @param {{ omission?: string, wordBoundary?: boolean }} [options]
 * @returns {string}
 */
export function truncate(input, length, options = {}) {
  const { omission = '…', wordBoundary = false } = options;
  if (!Number.isInteger(length) || length < 0) {
    throw new RangeError(`length must be a non-negative integer, got ${length}`);
  }
  if (input.length <= length) {
    return input;
  }
  if (omission.length >= length) {
    return omission.slice(0, length);
  }

  let cut = input.slice(0, length - omission.length);
  if (wordBoundary) {
    const lastSpace = cut.lastIndexOf(' ');
    if (lastSpace > 0) {
      cut = cut.slice(0, lastSpace);
    }
  }
  return cut.trimEnd() + omission;
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * Converts a CSV field to the JavaScript value it most likely represents.
 *
 *   ''       -> null
 *   'true'   -> true, 'false' -> false (case-insensitive)
 *   '3.5'    -> 3.5, '-2' -> -2, '1e3' -> 1000
 *   '007'    -> '007' (leading zeros are kept, e.g. zip codes)
 *   other    -> the string itself
 *
 * @param {string} value
 * @returns {string | number | boolean | null}
 */
export function inferType(value) {
  if (typeof value !== 'string') {
    return value;
  }
  const trimmed = value.trim();
  if (trimmed === '') {
    return null;
  }
  const lower = trimmed.toLowerCase();
  if (lower === 'true' || lower === 'false') {
    return lower === 'true';
  }
  if (NUMBER.test(trimmed)) {
    return Number(trimmed);
  }
  return value;
}

/**
 * Splits a string into words on whitespace, punctuation and case boundaries.
 *
 *   words('fooBar baz')       -> ['foo', 'Bar', 'baz']
 *   words('XMLHttpRequest')   -> ['XML', 'Http', 'Request']
 *   words('user_id-2')        -> ['user', 'id', '2']
 *
 * @param {string} input
 * @returns {string[]}
 */
export function words(input) {
  if (input === null || input === undefined) {
    return [];
  }
  return String(input)
    // "fooBar" -> "foo Bar", "v2Api" -> "v2 Api"
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    // "XMLHttp" -> "XML Http": an uppercase run followed by a capitalised word
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter((word) => word.length > 0);
}

export function capitalize(word) {
  if (!word) {
    return '';
  }
  return word.charAt(0).toUpperCase() + word.slice(1).toLowerCase();
}

export function camelCase(input) {
  return words(input)
    .map((word, index) => (index === 0 ? word.toLowerCase() : capitalize(word)))
    .join('');
}

export function pascalCase(input) {
  return words(input).map(capitalize).join('');
}

export function kebabCase(input) {
  return words(input)
    .map((word) => word.toLowerCase())
    .join('-');
}

export function snakeCase(input) {
  return words(input)
    .map((word) => word.toLowerCase())
    .join('_');
}

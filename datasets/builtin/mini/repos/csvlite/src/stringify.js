/**
 * Serialises rows (arrays of values) to CSV. `null` and `undefined` become empty fields.
 *
 * @param {unknown[][]} rows
 * @param {{ delimiter?: string, eol?: string }} [options]
 * @returns {string}
 */
export function stringify(rows, options = {}) {
  const { delimiter = ',', eol = '\n' } = options;
  return rows.map((row) => row.map((value) => formatField(value, delimiter)).join(delimiter) + eol).join('');
}

function formatField(value, delimiter) {
  if (value === null || value === undefined) {
    return '';
  }
  const text = String(value);
  const needsQuotes =
    text.includes(delimiter) ||
    text.includes('"') ||
    text.includes('\n') ||
    text.includes('\r') ||
    text !== text.trim();
  if (!needsQuotes) {
    return text;
  }
  return '"' + text.replaceAll('"', '""') + '"';
}

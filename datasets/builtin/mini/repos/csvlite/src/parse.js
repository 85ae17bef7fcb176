import { CsvError } from './errors.js';
import { inferType } from './infer.js';

/**
 * Parses CSV text.
 *
 * @param {string} text
 * @param {{ delimiter?: string, header?: boolean, typed?: boolean, skipEmpty?: boolean }} [options]
 * @returns {Array<string[]> | Array<Record<string, unknown>>}
 */
export function parse(text, options = {}) {
  const { delimiter = ',', header = false, typed = false, skipEmpty = true } = options;
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new TypeError(`invalid delimiter ${JSON.stringify(delimiter)}`);
  }

  const rows = readRows(text, delimiter, skipEmpty);
  const convert = typed ? inferType : (value) => value;

  if (!header) {
    return rows.map((row) => row.map(convert));
  }
  const [keys = [], ...body] = rows;
  return body.map((row) => {
    const record = {};
    keys.forEach((key, index) => {
      record[key] = convert(row[index] ?? '');
    });
    return record;
  });
}

function readRows(text, delimiter, skipEmpty) {
  const rows = [];
  let row = [];
  let field = '';
  let inQuotes = false;
  let quotedField = false;
  let line = 1;

  const endField = () => {
    row.push(field);
    field = '';
    quotedField = false;
  };
  const endRow = () => {
    endField();
    const blank = row.length === 1 && row[0] === '';
    if (!(blank && skipEmpty)) {
      rows.push(row);
    }
    row = [];
    line += 1;
  };

  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          inQuotes = false;
        }
      } else {
        if (ch === '\n') line += 1;
        field += ch;
      }
    } else if (ch === '"' && field === '' && !quotedField) {
      inQuotes = true;
      quotedField = true;
    } else if (ch === delimiter) {
      endField();
    } else if (ch === '\n') {
      endRow();
    } else if (ch === '\r' && text[i + 1] === '\n') {
      // CRLF line ending: the '\n' ends the row on the next iteration.
      continue;
    } else {
      field += ch;
    }
  }

  if (inQuotes) {
    throw new CsvError('unterminated quoted field', line);
  }
  // The last line may not end with a newline.
  if (field !== '' || row.length > 0 || quotedField) {
    endRow();
  }
  return rows;
}

export class CsvError extends Error {
  /**
   * @param {string} message
   * @param {number} line 1-based line where the problem was found
   */
  constructor(message, line) {
    super(`${message} (line ${line})`);
    this.name = 'CsvError';
    this.line = line;
  }
}

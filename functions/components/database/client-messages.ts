import * as path from 'node:path';
import { clip } from '#runtime/text.ts';

/**
 * What of a database client program's stderr may be shown. Its messages end up in the error, the
 * restore report, the execution's cause, the logs and the notification, so they must never carry
 * table data, and a client's stderr does: the mariadb/mysql client echoes the whole failing
 * statement (a multi-row INSERT of User_, password hashes and e-mail addresses included) between
 * two `--------------` lines, pg_restore adds `Command was:` with the statement and the server's
 * DETAIL (`Key (emailaddress)=(…)`, `Failing row contains (…)`) and CONTEXT lines, and even an
 * error line quotes the value it tripped on (`Duplicate entry 'a@b.c' for key …`).
 *
 * So only the program's own lines and the server's error lines are kept (an allow-list: a line of
 * a shape not foreseen is hidden, not shown), the values inside them are replaced, and the number
 * of hidden lines is said. It works line by line as stderr arrives: a multi-megabyte statement
 * echo is skipped past, never held.
 */

/** A line is judged on its first this many characters; the rest of a longer one is skipped. */
const LINE_LIMIT = 8 * 1024;
/** A kept line is cut here: no error line of either engine is anywhere near as long. */
const SHOWN_LINE_LIMIT = 1000;
/** What is kept of all the shown lines (the last ones: the final error is what matters). */
const SHOWN_LIMIT = 64 * 1024;
const WITHHELD = '<value not shown>';

/** The mariadb/mysql client frames the statement it echoes on an error with this line. */
const MYSQL_ECHO_FRAME = '--------------';
const POSTGRES_TOOLS = new Set(['pg_dump', 'pg_restore', 'psql']);

/** Replaces the values server error messages quote (the rows' data) inside a kept line. */
const VALUE_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // MariaDB/MySQL ER_DUP_ENTRY: the key's value (a unique index on emailAddress quotes the address).
  [/Duplicate entry '.*' for key/g, `Duplicate entry '${WITHHELD}' for key`],
  // ER_TRUNCATED_WRONG_VALUE(_FOR_FIELD): "Incorrect integer value: 'x' for column …", "Truncated incorrect DOUBLE value: 'x'".
  [/value: '.*'( for column|$)/g, `value: '${WITHHELD}'$1`],
  // ER_PARSE_ERROR quotes up to 80 characters of the statement, row values included.
  [/ near '.*' at line (\d+)/g, ` near '${WITHHELD}' at line $1`],
  // PostgreSQL: "invalid input syntax for type integer: "x"".
  [/(invalid input (?:syntax|value) for [^:]*): ".*"/g, `$1: "${WITHHELD}"`],
  // PostgreSQL's DETAIL, when a program prints it on its own prefixed line.
  [/(Key \([^)]*\))=\(.*\)/g, `$1=(${WITHHELD})`],
  [/Failing row contains \(.*\)/g, `Failing row contains (${WITHHELD})`],
];

/** The word before a quoted name that makes it an identifier (a table, a key…), shown as is. */
const IDENTIFIER_BEFORE =
  /\b(?:table|column|database|relation|schema|role|user|key|index|constraint|function|sequence|view|trigger|procedure|extension|collation|charset|character set|engine|variable)\s*:?\s*$/i;
/** What an identifier may hold: a value with `@`, spaces or punctuation is never taken for one. */
const IDENTIFIER = /^[\p{L}\p{N}_$.-]{1,128}$/u;
const WORD_CHARACTER = /[\p{L}\p{N}_]/u;

/**
 * Replaces every quoted part of a kept line that is not an identifier named as one: the patterns
 * above know the messages seen, and this covers the ones not foreseen (a server message quotes the
 * value it tripped on in many forms: `value "…" is out of range`, `Incorrect datetime value: '…'
 * for function`, `malformed array literal: "…"`). A quote opens after a non-word character (so
 * "doesn't" opens none) and closes before one; a value with a line break has no closing quote on
 * its line, and the rest of the line goes. `quote` is the engine's: MySQL quotes values with `'`
 * (its client puts a server message in `"`), PostgreSQL names and values with `"`.
 */
function withholdQuoted(line: string, quote: "'" | '"'): string {
  let out = '';
  let at = 0;
  while (at < line.length) {
    const open = line.indexOf(quote, at);
    if (open < 0) break;
    if (open > 0 && WORD_CHARACTER.test(line.charAt(open - 1))) {
      out += line.slice(at, open + 1);
      at = open + 1;
      continue;
    }
    out += line.slice(at, open);
    let close = line.indexOf(quote, open + 1);
    while (close >= 0 && close + 1 < line.length && WORD_CHARACTER.test(line.charAt(close + 1)))
      close = line.indexOf(quote, close + 1);
    if (close < 0) return `${out}${quote}${WITHHELD}…`;
    const inner = line.slice(open + 1, close);
    const named = IDENTIFIER_BEFORE.test(out) && IDENTIFIER.test(inner);
    out += named || inner === WITHHELD ? line.slice(open, close + 1) : `${quote}${WITHHELD}${quote}`;
    at = close + 1;
  }
  return out + line.slice(at);
}

export function withholdValues(line: string, quote: "'" | '"'): string {
  let out = line;
  for (const [pattern, replacement] of VALUE_PATTERNS) out = out.replace(pattern, replacement);
  out = withholdQuoted(out, quote);
  return clip(out, SHOWN_LINE_LIMIT);
}

export interface ClientMessages {
  /** Feeds stderr as it arrives. */
  write(chunk: string): void;
  /** Adds a message of our own (a spawn error), shown as is. */
  add(message: string): void;
  /** The lines that may be shown, and how many were not. */
  text(): string;
  /** Lines, shown or not, that contain the word "error": a dump that printed one is not complete. */
  errorLines(): number;
}

/** The filter for one program (`tool` is its path; its basename decides the engine's rules). */
export function clientMessages(tool: string): ClientMessages {
  const name = path.basename(tool);
  const postgres = POSTGRES_TOOLS.has(name);
  const own = `${name}:`;
  let shown = '';
  let hidden = 0;
  let errors = 0;
  let carry = '';
  let overlong = false;
  // mysql client: inside the echo of a failing statement; pg tools: inside a `Command was:` block.
  let inEcho = false;

  const keep = (line: string) => {
    shown = `${shown}${withholdValues(line, postgres ? '"' : "'")}\n`.slice(-SHOWN_LIMIT);
  };

  const mysqlLine = (line: string) => {
    if (line === MYSQL_ECHO_FRAME) {
      inEcho = !inEcho;
      return false;
    }
    if (inEcho) return false;
    return (
      line.startsWith(own) ||
      /^ERROR \d+ \([0-9A-Z]{5}\)/.test(line) ||
      /^ERROR( at line \d+)?:/.test(line) ||
      /^(-- )?(Warning|WARNING|Note)\b/.test(line)
    );
  };

  const postgresLine = (line: string) => {
    if (line.startsWith(own)) {
      // pg_dump prints its own `detail: Command was: …`; pg_restore puts it on a line of its own.
      inEcho = line.includes('Command was:');
      return !inEcho;
    }
    if (line.startsWith('Command was:')) inEcho = true;
    if (inEcho) return false;
    // psql -c prints the server's message unprefixed; DETAIL, CONTEXT, LINE … are not kept.
    return /^(ERROR|FATAL|PANIC|WARNING):/.test(line);
  };

  const line = (text: string) => {
    if (/\berror\b/i.test(text)) errors += 1;
    const show = postgres ? postgresLine(text) : mysqlLine(text);
    if (show) keep(text);
    else if (text.trim() !== '' && text !== MYSQL_ECHO_FRAME) hidden += 1;
  };

  // The last line may come without its newline: it counts once the program has ended.
  const settle = () => {
    if (carry && !overlong) line(carry);
    carry = '';
  };

  return {
    write(chunk) {
      let start = 0;
      for (;;) {
        const newline = chunk.indexOf('\n', start);
        if (!overlong) {
          carry += chunk.slice(start, newline < 0 ? undefined : newline);
          if (carry.length > LINE_LIMIT) {
            line(carry.slice(0, LINE_LIMIT));
            carry = '';
            overlong = true;
          }
        }
        if (newline < 0) return;
        if (!overlong) line(carry);
        carry = '';
        overlong = false;
        start = newline + 1;
      }
    },
    add(message) {
      shown = `${shown}${message}\n`.slice(-SHOWN_LIMIT);
    },
    text() {
      settle();
      const note =
        hidden > 0
          ? `(${hidden} more line${hidden === 1 ? '' : 's'} of ${name}'s output not shown: statements and details may quote table rows)`
          : '';
      return [shown.trim(), note].filter(Boolean).join(' ');
    },
    errorLines() {
      settle();
      return errors;
    },
  };
}

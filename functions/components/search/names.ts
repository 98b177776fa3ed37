/**
 * Index names in a warning or an error: a warning keeps 4,096 characters (RESULT_MAX_TEXT) and an
 * index name may take 255, while twenty virtual instances make over a hundred indexes. The report
 * (details) lists every index; a message names the first and says how many more.
 */

/** Names in one message, at most. */
const NAMED_INDEXES = 20;
/** Characters of names in one message, at most: what is left of 4,096 for the sentence around them. */
const NAMED_CHARACTERS = 3072;

/** The first names (as many as fit), and how many more. */
export function namedFirst(names: readonly string[]): string {
  const shown: string[] = [];
  let characters = 0;
  for (const name of names) {
    if (shown.length === NAMED_INDEXES || characters + name.length > NAMED_CHARACTERS) break;
    shown.push(name);
    characters += name.length + 2;
  }
  const more = names.length - shown.length;
  return `${shown.join(', ')}${more > 0 ? `, and ${more} more (${names.length} in all)` : ''}`;
}

import { describe, expect, it } from 'vitest';
import {
  ancestorsOf,
  comparePaths,
  inRange,
  isUnder,
  parentOf,
  spanIntersects,
  subtreeMayIntersect,
  unsafePathReason,
} from '#components/files/paths.ts';

/** Depth-first preorder of a tree given as nested records, children in name order (what the walker emits). */
function preorder(tree: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  const names = Object.keys(tree).sort((a, b) => comparePaths(a, b));
  for (const name of names) {
    const path = prefix === '' ? name : `${prefix}/${name}`;
    out.push(path);
    const child = tree[name];
    if (child && typeof child === 'object') out.push(...preorder(child as Record<string, unknown>, path));
  }
  return out;
}

function utf8Order(a: string, b: string): number {
  // The reference: segment-wise, segments compared as UTF-8 bytes.
  const sa = a.split('/');
  const sb = b.split('/');
  for (let i = 0; i < Math.min(sa.length, sb.length); i += 1) {
    const c = Buffer.compare(Buffer.from(sa[i] as string), Buffer.from(sb[i] as string));
    if (c !== 0) return c;
  }
  return sa.length - sb.length;
}

describe('path order', () => {
  it('puts a folder right before its contents, and its contents before its next sibling', () => {
    const paths = ['a-c', 'a/b', 'a', 'a.txt', 'a/b/c', 'ab', 'a/a'];
    expect([...paths].sort(comparePaths)).toEqual(['a', 'a/a', 'a/b', 'a/b/c', 'a-c', 'a.txt', 'ab']);
  });

  it('is the order of a depth-first walk with children in name order', () => {
    const tree = {
      'a-c': null,
      a: { b: { c: null, 'c-d': null }, 'b.txt': null, 'b-x': { y: null } },
      'a.b': null,
      ü: { '𝄞': null, '\uffff': null },
      Z: null,
    };
    const walked = preorder(tree);
    expect([...walked].sort(comparePaths)).toEqual(walked);
  });

  it('orders characters beyond the BMP after U+E000..U+FFFF, as UTF-8 bytes do', () => {
    const names = ['\uffff', '𝄞', '\ue000', 'z', 'é', '日本', '😀', 'a/𝄞', 'a/\uffff'];
    const byUtf8 = [...names].sort(utf8Order);
    expect([...names].sort(comparePaths)).toEqual(byUtf8);
  });

  it('finds parents, ancestors and containment', () => {
    expect(parentOf('a/b/c')).toBe('a/b');
    expect(parentOf('a')).toBe('');
    expect(ancestorsOf('a/b/c')).toEqual(['a', 'a/b']);
    expect(isUnder('a/b', 'a')).toBe(true);
    expect(isUnder('ab', 'a')).toBe(false);
    expect(isUnder('a', 'a')).toBe(false);
    expect(isUnder('x', '')).toBe(true);
  });
});

describe('ranges', () => {
  const range = { after: 'b/m', through: 'd' };

  it('holds paths after `after` up to and including `through`', () => {
    expect(inRange('b/m', range)).toBe(false);
    expect(inRange('b/m/x', range)).toBe(true);
    expect(inRange('c', range)).toBe(true);
    expect(inRange('d', range)).toBe(true);
    expect(inRange('d/x', range)).toBe(false);
    expect(inRange('anything', {})).toBe(true);
  });

  it('tells which folders to descend into', () => {
    expect(subtreeMayIntersect('a', range)).toBe(false); // all of a/** sorts before b/m
    expect(subtreeMayIntersect('b', range)).toBe(true); // b/m lies inside b
    expect(subtreeMayIntersect('b/m', range)).toBe(true); // its children come after it
    expect(subtreeMayIntersect('b/a', range)).toBe(false);
    expect(subtreeMayIntersect('d', range)).toBe(true); // d itself is in range
    expect(subtreeMayIntersect('e', range)).toBe(false);
  });

  it('tells which index parts overlap', () => {
    expect(spanIntersects('a', 'b/m', range)).toBe(false);
    expect(spanIntersects('a', 'b/m/a', range)).toBe(true);
    expect(spanIntersects('d/x', 'z', range)).toBe(false);
    expect(spanIntersects('c', 'z', range)).toBe(true);
  });
});

describe('path safety', () => {
  it.each([
    ['/etc/passwd', 'absolute'],
    ['../x', "'..' segment"],
    ['a/../../x', "'..' segment"],
    ['a/./b', "'.' segment"],
    ['a//b', 'empty segment'],
    ['a/', 'empty segment'],
    ['', 'empty'],
    ['a\0b', 'NUL'],
    [`${'x'.repeat(256)}`, 'longer than 255'],
    [Array.from({ length: 200 }, () => 'abcdefghijklmnopqrstu').join('/'), 'longer than 4000'],
  ])('refuses %j (%s)', (path, why) => {
    expect(unsafePathReason(path)).toContain(why);
  });

  it.each(['a', 'a/b/c', '.liferay-home', '..a/b..', 'ü/日本/😀', 'with space/and\\backslash'])(
    'accepts %j',
    (path) => {
      expect(unsafePathReason(path)).toBeUndefined();
    },
  );

  it('refuses what is not a string', () => {
    expect(unsafePathReason(42)).toContain('not a string');
  });
});

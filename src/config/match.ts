// Which tags an [OUTPUT] takes, as Fluent Bit's router decides
// (src/flb_router.c, router_match):
//  - Match: the whole tag against a pattern where `*` stands for any run of
//    characters (dots included, possibly none); every other character is
//    literal and case matters. No `?`, no character classes.
//  - Match_Regex: a regular expression tried at the start of the tag only
//    (onig_match, not a search): "ebpf" matches "ebpf.0", "0$" does not; add
//    $ to pin the end. A match of zero characters does not count, as in
//    Fluent Bit. The syntax here is JavaScript's, close to Onigmo's for the
//    patterns tags need.

export interface MatchRule {
  kind: 'wildcard' | 'regex';
  pattern: string;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Compiles a Match or Match_Regex; throws an Error for a regex that doesn't compile. */
export function compileMatch(m: MatchRule): (tag: string) => boolean {
  if (m.kind === 'wildcard') {
    if (m.pattern === '*') return () => true;
    const source = m.pattern
      .split(/\*+/)
      .map(escapeRegExp)
      .join('.*');
    const re = new RegExp(`^${source}$`, 's');
    return (tag) => re.test(tag);
  }

  let re: RegExp;
  try {
    // Sticky: matches only at lastIndex 0, like onig_match at the start.
    re = new RegExp(m.pattern, 'y');
  } catch (err) {
    throw new Error(`invalid regular expression ${JSON.stringify(m.pattern)}: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`);
  }
  return (tag) => {
    re.lastIndex = 0;
    const found = re.exec(tag);
    return found !== null && found[0].length > 0;
  };
}

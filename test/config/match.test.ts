import { describe, expect, it } from 'vitest';
import { compileMatch } from '../../src/config/match.js';

const wildcard = (pattern: string) => compileMatch({ kind: 'wildcard', pattern });
const regex = (pattern: string) => compileMatch({ kind: 'regex', pattern });

describe('compileMatch: Match (wildcards, as flb_router_match)', () => {
  const cases: [pattern: string, tag: string, matches: boolean][] = [
    ['*', 'ebpf.0', true],
    ['*', '', true],
    ['ebpf.0', 'ebpf.0', true],
    ['ebpf.0', 'ebpf.01', false],
    ['ebpf.0', 'xebpf.0', false],
    // Case matters.
    ['ebpf.0', 'EBPF.0', false],
    ['EBPF.*', 'ebpf.0', false],
    // '*' is any run of characters, dots included, possibly none.
    ['ebpf.*', 'ebpf.0', true],
    ['ebpf.*', 'ebpf.', true],
    ['ebpf.*', 'ebpf.a.b.c', true],
    ['ebpf.*', 'ebpf', false],
    ['ebpf*', 'ebpf', true],
    ['*.signal', 'host.ebpf.signal', true],
    ['*.signal', 'signal', false],
    ['host.*.signal', 'host.a.b.signal', true],
    ['host.*.signal', 'host.signal', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'aXbY', false],
    ['a**b', 'aXb', true],
    // Everything but '*' is literal: '.', '?', '+', '(', '[' included.
    ['ebpf.0', 'ebpfX0', false],
    ['a?c', 'abc', false],
    ['a?c', 'a?c', true],
    ['a+(b)[c]', 'a+(b)[c]', true],
    ['', '', true],
    ['', 'x', false],
  ];
  for (const [pattern, tag, matches] of cases) {
    it(`${JSON.stringify(pattern)} ${matches ? 'matches' : 'does not match'} ${JSON.stringify(tag)}`, () => {
      expect(wildcard(pattern)(tag)).toBe(matches);
    });
  }
});

describe('compileMatch: Match_Regex (onig_match: anchored at the start only)', () => {
  const cases: [pattern: string, tag: string, matches: boolean][] = [
    ['^ebpf\\.\\d+$', 'ebpf.12', true],
    ['^ebpf\\.\\d+$', 'ebpf.x', false],
    ['ebpf', 'ebpf.0', true], // a prefix is enough
    ['ebpf', 'host.ebpf', false], // not a search: the match starts at the tag's start
    ['0$', 'ebpf.0', false],
    ['.*0$', 'ebpf.0', true],
    ['(host|node)\\.ebpf', 'node.ebpf.signal', true],
    ['EBPF', 'ebpf.0', false],
    ['(?:x)?', 'ebpf', false], // an empty match does not count, as in Fluent Bit
  ];
  for (const [pattern, tag, matches] of cases) {
    it(`/${pattern}/ ${matches ? 'matches' : 'does not match'} ${JSON.stringify(tag)}`, () => {
      expect(regex(pattern)(tag)).toBe(matches);
    });
  }

  it('is reusable: a match does not leave state behind', () => {
    const m = regex('ebpf');
    expect([m('ebpf.0'), m('ebpf.0'), m('x'), m('ebpf.1')]).toEqual([true, true, false, true]);
  });

  it('a regex that does not compile is an Error naming it', () => {
    expect(() => regex('ebpf.(')).toThrow(/^invalid regular expression "ebpf\.\(": .*(unterminated group|Unterminated group)/);
  });
});

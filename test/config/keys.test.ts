import { describe, expect, it } from 'vitest';
import { enumParser, integerParser, parseBool, parseNonEmpty, secondsParser, sizeParser, sizeToBytes } from '../../src/config/keys.js';

describe('parseBool', () => {
  it('takes on/off, true/false, yes/no in any case', () => {
    for (const v of ['on', 'On', 'ON', 'true', 'True', 'yes', 'YES']) expect(parseBool(v)).toBe(true);
    for (const v of ['off', 'Off', 'false', 'FALSE', 'no', 'No']) expect(parseBool(v)).toBe(false);
  });
  it('refuses anything else, listing what works', () => {
    for (const v of ['1', '0', 'enabled', '', 'onn']) {
      expect(() => parseBool(v)).toThrow(`${JSON.stringify(v)} is not a boolean: use on/off, true/false or yes/no`);
    }
  });
});

describe('parseNonEmpty', () => {
  it('keeps text, refuses ""', () => {
    expect(parseNonEmpty('a b')).toBe('a b');
    expect(() => parseNonEmpty('')).toThrow('the value is empty');
  });
});

describe('integerParser', () => {
  it('takes whole numbers within bounds', () => {
    const port = integerParser({ min: 1, max: 65535 });
    expect(port('1')).toBe(1);
    expect(port('65535')).toBe(65535);
    expect(port('+80')).toBe(80);
    expect(integerParser()('-5')).toBe(-5);
  });
  it('refuses fractions, words, units, and values out of bounds', () => {
    const port = integerParser({ min: 1, max: 65535 });
    expect(() => port('1.5')).toThrow('"1.5" is not a whole number');
    expect(() => port('80a')).toThrow('"80a" is not a whole number');
    expect(() => port('99999999999999999999')).toThrow('is not a whole number');
    expect(() => port('0')).toThrow('0 is out of range: it must be between 1 and 65535');
    expect(() => port('70000')).toThrow('70000 is out of range: it must be between 1 and 65535');
    expect(() => integerParser({ min: 1 })('0')).toThrow('0 is out of range: it must be at least 1');
    expect(() => integerParser({ max: 9 })('10')).toThrow('10 is out of range: it must be at most 9');
  });
});

describe('sizeToBytes / sizeParser', () => {
  it("follows Fluent Bit's flb_utils_size_to_bytes: K, M, G are powers of 1000, KB works, any case", () => {
    const cases: [string, number][] = [
      ['0', 0],
      ['512', 512],
      ['512k', 512_000],
      ['512K', 512_000],
      ['512KB', 512_000],
      ['512kb', 512_000],
      ['8M', 8_000_000],
      ['8mb', 8_000_000],
      ['1G', 1_000_000_000],
      ['1.5M', 1_500_000],
      ['.5K', 500],
      ['1.0005K', 1000], // truncated to whole bytes
      ['false', 0],
      ['FALSE', 0],
    ];
    for (const [text, bytes] of cases) expect([text, sizeToBytes(text)]).toEqual([text, bytes]);
  });

  it('binary: K, M, G are powers of 1024, and KiB works too', () => {
    const cases: [string, number][] = [
      ['4096', 4096],
      ['4K', 4096],
      ['4KB', 4096],
      ['4KiB', 4096],
      ['8M', 8 * 1024 * 1024],
      ['8mib', 8 * 1024 * 1024],
      ['1G', 1024 ** 3],
      ['0.5M', 512 * 1024],
    ];
    for (const [text, bytes] of cases) expect([text, sizeToBytes(text, true)]).toEqual([text, bytes]);
  });

  it('refuses what is not a size', () => {
    for (const text of ['', 'M', '8X', '8 M', '8MiB', '8MM', '-1', '1.5', 'lots', '1T']) {
      expect([text, sizeToBytes(text)]).toEqual([text, undefined]);
    }
    expect(sizeToBytes('8Mi', true)).toBeUndefined();
  });

  it('sizeParser names the units and checks bounds in bytes', () => {
    expect(sizeParser()('8M')).toBe(8_000_000);
    expect(() => sizeParser()('8X')).toThrow('"8X" is not a size: use a number of bytes or a number with K, M or G (powers of 1000, as in Fluent Bit; KB also works), e.g. 512K or 8M');
    expect(() => sizeParser({ binary: true })('big')).toThrow('K, M or G (powers of 1024; KB and KiB also work)');
    expect(() => sizeParser({ min: 1000 })('999')).toThrow('999 bytes is out of range: it must be at least 1000 bytes');
  });
});

describe('secondsParser', () => {
  it('fractional seconds, as Flush', () => {
    const flush = secondsParser({ fractional: true, above: 0 });
    expect(flush('1')).toBe(1);
    expect(flush('0.5')).toBe(0.5);
    expect(flush('.25')).toBe(0.25);
    expect(() => flush('0')).toThrow('0 is out of range: it must be more than 0 seconds');
    expect(() => flush('soon')).toThrow('"soon" is not a number of seconds (e.g. 1, 0.5)');
    // Fluent Bit reads Flush with atof: "1m" would be 1 second there; refused here.
    expect(() => flush('1m')).toThrow('"1m" is not a number of seconds');
  });

  it('whole seconds unless fractional', () => {
    const grace = secondsParser({ min: 0 });
    expect(grace('0')).toBe(0);
    expect(grace('30')).toBe(30);
    expect(() => grace('2.5')).toThrow('"2.5" is not a whole number of seconds (e.g. 1, 30)');
    expect(() => grace('-1')).toThrow('is not a whole number of seconds');
  });

  it("units s, m, h, d when asked (Fluent Bit's time keys)", () => {
    const time = secondsParser({ units: true, max: 86400 });
    expect(time('45')).toBe(45);
    expect(time('45s')).toBe(45);
    expect(time('5m')).toBe(300);
    expect(time('2H')).toBe(7200);
    expect(time('1d')).toBe(86400);
    expect(() => time('2d')).toThrow('172800 seconds is out of range: it must be at most 86400 seconds');
    expect(() => time('5w')).toThrow('"5w" is not a whole number of seconds (e.g. 1, 30, 5m, 1h)');
  });
});

describe('enumParser', () => {
  const level = enumParser(['off', 'error', 'warn', 'info'] as const, { warning: 'warn' });
  it('matches any case and returns the listed word; aliases map to listed words', () => {
    expect(level('INFO')).toBe('info');
    expect(level('Warn')).toBe('warn');
    expect(level('warning')).toBe('warn');
  });
  it('lists the accepted words', () => {
    expect(() => level('loud')).toThrow('"loud" is not one of off, error, warn, info');
  });
});

describe('every duration and size is bounded, also where its key sets no bound', () => {
  it('a duration becomes a Node.js timer: at most 2^31-1 ms (longer ones would fire after 1 ms), at least 1 ms', () => {
    const flush = secondsParser({ fractional: true, above: 0 });
    expect(flush('2147483')).toBe(2147483);
    expect(() => flush('2147484')).toThrow('"2147484" is too long: a duration is at most 2147483 seconds (24.8 days, the longest timer Node.js can set)');
    expect(() => flush('0.0001')).toThrow('"0.0001" is too short: a duration of more than 0 is at least 0.001 seconds (1 ms, the shortest timer)');
    expect(flush('0.001')).toBe(0.001);
    const time = secondsParser({ fractional: true, units: true, above: 0 });
    expect(time('24d')).toBe(24 * 86400);
    expect(() => time('25d')).toThrow('"25d" is too long');
    expect(() => time('99999999999999999999d')).toThrow('is too long');
    expect(secondsParser({ min: 0 })('0')).toBe(0);
  });

  it('a size is an exact number of bytes: at most 2^53-1', () => {
    expect(sizeParser()('9000000G')).toBe(9e15);
    expect(() => sizeParser()('10000000G')).toThrow('"10000000G" is too large: a size is at most 9007199254740991 bytes (8 PiB)');
    expect(() => sizeParser()('99999999999999999999')).toThrow('is too large');
  });
});

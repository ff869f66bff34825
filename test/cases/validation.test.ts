import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isIsoDate } from '../../src/modules/cases/validation.ts';
import { assertProperty } from '../support/seed.ts';

/** The definition isIsoDate had before it was made arithmetic: a round trip through Date.UTC. */
function byDateUtc(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

const pad = (number: number, width: number) => String(number).padStart(width, '0');

describe('isIsoDate', () => {
  it('agrees with a round trip through Date.UTC on every day, month and year edge', () => {
    const years = [0, 1, 99, 100, 101, 399, 400, 1600, 1899, 1900, 1901, 1999, 2000, 2023, 2024, 2100, 2400, 9999];
    let valid = 0;
    for (const year of years) {
      for (let month = 0; month <= 13; month++) {
        for (let day = 0; day <= 32; day++) {
          const text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
          assert.equal(isIsoDate(text), byDateUtc(text), text);
          if (byDateUtc(text)) valid += 1;
        }
      }
    }
    assert.ok(valid > 4000, `${valid} valid dates`);
    assert.equal(isIsoDate('2024-02-29'), true);
    assert.equal(isIsoDate('2023-02-29'), false);
    assert.equal(isIsoDate('2100-02-29'), false);
    assert.equal(isIsoDate('0050-01-01'), false, 'years 0000-0099 stay refused');
  });

  it('agrees with it on any text of ten characters or about', async () => {
    const character = fc.constantFrom(...'0123456789--- x+.０１٣'.split(''));
    await assertProperty(
      'isIsoDate against Date.UTC',
      fc.property(fc.array(character, { minLength: 8, maxLength: 12 }), (characters) => {
        const text = characters.join('');
        assert.equal(isIsoDate(text), byDateUtc(text), JSON.stringify(text));
      }),
      { numRuns: 20_000 },
    );
    for (const text of [
      '',
      '2024-01-01\n',
      ' 2024-01-01',
      '2024-01-1',
      '2024/01/01',
      '２０２４-01-01',
      '2024-01-01T00',
    ]) {
      assert.equal(isIsoDate(text), false, JSON.stringify(text));
    }
  });
});

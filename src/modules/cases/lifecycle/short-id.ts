import { randomInt } from 'node:crypto';

/** The unique index a new short id can collide on; the write is then made again with another one. */
export const SHORT_ID_INDEX = 'cases_organization_short_id_unique';

/** How many short ids one case write draws before it gives up (each collision is about 1 in 200,000 at 1M cases). */
export const SHORT_ID_ATTEMPTS = 5;

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/**
 * A case's short id as people read it out: three letters, a dash, five letters (`ADA-TOSXM`), drawn at random
 * from 26^8 (about 2.1e11) values. With a million cases in an organization a new id collides with one in
 * about 200,000 draws, and the write retries with another id (SHORT_ID_INDEX).
 */
export function newShortId(): string {
  let letters = '';
  for (let index = 0; index < 8; index += 1) letters += LETTERS[randomInt(LETTERS.length)];
  return `${letters.slice(0, 3)}-${letters.slice(3)}`;
}

export const SHORT_ID_PATTERN = /^[A-Z]{3}-[A-Z]{5}$/;

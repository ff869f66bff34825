import { randomInt } from 'node:crypto';

/** The unique index a new short id can collide on; the write is then made again with another one. */
export const SHORT_ID_INDEX = 'cases_organization_short_id_unique';

/** How many short ids one case write draws before it gives up (a collision is rare even in a large organization). */
export const SHORT_ID_ATTEMPTS = 5;

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/**
 * A case's short id as people read it out: three letters, a dash, five letters (`ADA-TOSXM`), eight random
 * letters. Collisions within an organization are rare even at a million cases (docs/api/cases.md), and a
 * write that meets one retries with another id (SHORT_ID_INDEX).
 */
export function newShortId(): string {
  let letters = '';
  for (let index = 0; index < 8; index += 1) letters += LETTERS[randomInt(LETTERS.length)];
  return `${letters.slice(0, 3)}-${letters.slice(3)}`;
}

export const SHORT_ID_PATTERN = /^[A-Z]{3}-[A-Z]{5}$/;

/**
 * The test cards of the simulated gateway's card element, with Stripe's test numbers and outcomes
 * (https://docs.stripe.com/testing), so a storefront tested against care360 behaves the same against Stripe.
 */
export type CardOutcome =
  | { kind: 'succeeds' }
  | { kind: 'declined'; code: string; declineCode?: string; message: string }
  | { kind: 'authentication' };

export const TEST_CARDS: Record<string, { label: string; outcome: CardOutcome }> = {
  '4242424242424242': { label: 'succeeds', outcome: { kind: 'succeeds' } },
  '4000002500003155': { label: 'asks the patient to authenticate (3D Secure)', outcome: { kind: 'authentication' } },
  '4000000000000002': {
    label: 'declined',
    outcome: {
      kind: 'declined',
      code: 'card_declined',
      declineCode: 'generic_decline',
      message: 'Your card was declined.',
    },
  },
  '4000000000009995': {
    label: 'declined: insufficient funds',
    outcome: {
      kind: 'declined',
      code: 'card_declined',
      declineCode: 'insufficient_funds',
      message: 'Your card has insufficient funds.',
    },
  },
  '4000000000000069': {
    label: 'declined: expired card',
    outcome: { kind: 'declined', code: 'expired_card', message: 'Your card has expired.' },
  },
};

/** Any other number that passes the Luhn check succeeds, as on Stripe in test mode. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let index = 0; index < digits.length; index += 1) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

export interface CardInput {
  number: string;
  expiry: string;
  cvc: string;
}

/** What a card's details are wrong with, in Stripe's codes and words; null when they are complete. */
export function cardProblem(card: CardInput, now = new Date()): { code: string; message: string } | null {
  const digits = card.number.replace(/[\s-]/g, '');
  if (!/^\d{13,19}$/.test(digits) || !luhnValid(digits)) {
    return { code: 'incorrect_number', message: 'Your card number is incorrect.' };
  }
  const expiry = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(card.expiry);
  const month = Number(expiry?.[1]);
  if (!expiry || month < 1 || month > 12) {
    return { code: 'invalid_expiry_month', message: "Your card's expiration date is incomplete." };
  }
  const year = Number(expiry[2]!.length === 2 ? `20${expiry[2]}` : expiry[2]);
  if (year < now.getUTCFullYear() || (year === now.getUTCFullYear() && month < now.getUTCMonth() + 1)) {
    return { code: 'invalid_expiry_year', message: "Your card's expiration date is in the past." };
  }
  if (!/^\d{3,4}$/.test(card.cvc.trim())) {
    return { code: 'incomplete_cvc', message: "Your card's security code is incomplete." };
  }
  return null;
}

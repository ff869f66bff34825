/**
 * The gateway client timeout (STRIPE_TIMEOUT_MS, NMI_TIMEOUT_MS) with the fakes: far beyond any answer of theirs
 * on a loaded machine, where a starved process can run its timers before it reads an answer already sent. A test
 * that needs an answer lost says so to the fake (loseNextAnswer), never with a short timeout that its other calls
 * must beat.
 */
export const FAKE_GATEWAY_TIMEOUT_MS = '30000';

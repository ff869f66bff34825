/*
 * care360's test card element: a stand-in for Stripe.js while care360 runs with its simulated gateway (no
 * STRIPE_SECRET_KEY), so an intake page works offline and behaves as it will with Stripe. It offers the part of
 * Stripe.js an intake page uses:
 *
 *   const stripe = Care360TestCard();                     // in place of Stripe(publishableKey)
 *   const elements = stripe.elements({ clientSecret });
 *   elements.create('payment').mount('#payment-element');
 *   const { setupIntent, error } = await stripe.confirmSetup({ elements, redirect: 'if_required' });
 *   const { paymentIntent, error } = await stripe.confirmPayment({ elements, redirect: 'if_required' });
 *
 * Stripe's test cards behave as on Stripe: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined,
 * 4000 0000 0000 9995 has insufficient funds, 4000 0000 0000 0069 has expired, 4000 0025 0000 3155 asks the
 * patient to authenticate (a dialog with Complete and Fail). Any expiry in the future and any 3-digit CVC.
 * The card goes to care360 (the confirmation path beside this script, through the storefront's relay), never to
 * a card network. docs/api/payments.md.
 */
(function () {
  'use strict';

  const scriptUrl = document.currentScript?.src || location.href;
  // Beside this script: /payments/test-card.js -> /payments/test-card/confirm (also under a relay's prefix).
  const confirmUrl = new URL('test-card/confirm', scriptUrl).href;

  function field(labelText, name, autocomplete, placeholder) {
    const label = document.createElement('label');
    label.className = 'c360-test-card-field';
    const caption = document.createElement('span');
    caption.textContent = labelText;
    const input = document.createElement('input');
    input.name = name;
    input.autocomplete = autocomplete;
    input.placeholder = placeholder;
    input.inputMode = name === 'exp-date' ? 'text' : 'numeric';
    input.spellcheck = false;
    label.append(caption, input);
    return { label, input };
  }

  class CardElement {
    constructor() {
      this.handlers = {};
      this.root = null;
    }

    mount(target) {
      const parent = typeof target === 'string' ? document.querySelector(target) : target;
      if (!parent) throw new Error(`Care360TestCard: nothing to mount the card element on: ${target}`);
      const root = document.createElement('div');
      root.className = 'c360-test-card';
      root.setAttribute('role', 'group');
      root.setAttribute('aria-label', 'Card (test mode)');
      const note = document.createElement('p');
      note.className = 'c360-test-card-note';
      note.textContent =
        'Test mode, no card is charged. 4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined; ' +
        '4000 0025 0000 3155 asks you to authenticate. Any future expiry, any CVC.';
      this.number = field('Card number', 'cardnumber', 'cc-number', '1234 1234 1234 1234');
      this.expiry = field('Expiration (MM / YY)', 'exp-date', 'cc-exp', 'MM / YY');
      this.cvc = field('CVC', 'cvc', 'cc-csc', 'CVC');
      root.append(note, this.number.label, this.expiry.label, this.cvc.label);
      for (const input of [this.number.input, this.expiry.input, this.cvc.input]) {
        input.addEventListener('input', () =>
          this.emit('change', { elementType: 'payment', empty: this.isEmpty(), complete: this.isComplete() }),
        );
      }
      parent.appendChild(root);
      this.root = root;
      this.emit('ready', { elementType: 'payment' });
      return this;
    }

    unmount() {
      this.root?.remove();
      this.root = null;
    }

    destroy() {
      this.unmount();
    }

    on(event, handler) {
      (this.handlers[event] ??= []).push(handler);
      return this;
    }

    emit(event, payload) {
      for (const handler of this.handlers[event] ?? []) handler(payload);
    }

    values() {
      return { number: this.number.input.value, expiry: this.expiry.input.value, cvc: this.cvc.input.value };
    }

    isEmpty() {
      const { number, expiry, cvc } = this.values();
      return !number && !expiry && !cvc;
    }

    isComplete() {
      const { number, expiry, cvc } = this.values();
      return (
        number.replace(/\D/g, '').length >= 13 && /\d{1,2}\s*\/\s*\d{2}/.test(expiry) && /^\d{3,4}$/.test(cvc.trim())
      );
    }
  }

  class Elements {
    constructor(options) {
      if (typeof options?.clientSecret !== 'string') {
        throw new Error(
          'Care360TestCard: elements({ clientSecret }) needs a SetupIntent or PaymentIntent client secret',
        );
      }
      this.clientSecret = options.clientSecret;
      this.card = null;
    }

    create(type) {
      if (type !== 'payment' && type !== 'card') {
        throw new Error(`Care360TestCard: only the "payment" (card) element is simulated, not "${type}"`);
      }
      this.card = new CardElement();
      return this.card;
    }

    getElement() {
      return this.card;
    }

    async submit() {
      return this.card?.isComplete() ? {} : { error: incomplete() };
    }
  }

  function incomplete() {
    return { type: 'validation_error', code: 'incomplete', message: 'Your card details are incomplete.' };
  }

  /** The authentication challenge a 3D Secure card brings up: resolves 'complete' or 'fail'. */
  function challenge() {
    return new Promise((resolve) => {
      const dialog = document.createElement('dialog');
      dialog.className = 'c360-test-card-challenge';
      const heading = document.createElement('h2');
      heading.textContent = 'Authenticate this test payment';
      const text = document.createElement('p');
      text.textContent = 'Your bank would ask you to confirm here. This is a test: choose the outcome.';
      dialog.append(heading, text);
      for (const [caption, answer] of [
        ['Complete authentication', 'complete'],
        ['Fail authentication', 'fail'],
      ]) {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = caption;
        button.addEventListener('click', () => {
          dialog.close();
          dialog.remove();
          resolve(answer);
        });
        dialog.appendChild(button);
      }
      document.body.appendChild(dialog);
      dialog.showModal();
    });
  }

  async function post(body) {
    let response;
    try {
      response = await fetch(confirmUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (error) {
      return { error: { type: 'api_connection_error', message: String(error?.message ?? error) } };
    }
    try {
      return await response.json();
    } catch {
      return { error: { type: 'api_error', message: `Unexpected answer (${response.status})` } };
    }
  }

  /** Stripe's redirect after a confirmation, with the query parameters it adds to return_url. */
  function redirectTo(returnUrl, object, clientSecret) {
    const url = new URL(returnUrl, location.href);
    const prefix = object.object; // setup_intent or payment_intent
    url.searchParams.set(prefix, object.id);
    url.searchParams.set(`${prefix}_client_secret`, clientSecret);
    url.searchParams.set('redirect_status', 'succeeded');
    location.assign(url.href);
  }

  async function confirm(params, key) {
    const elements = params?.elements;
    if (!(elements instanceof Elements) || !elements.card?.root) {
      return { error: { type: 'integration_error', message: 'Mount a payment element before confirming.' } };
    }
    if (!elements.card.isComplete()) return { error: incomplete() };
    const body = { clientSecret: elements.clientSecret, card: elements.card.values() };
    let result = await post(body);
    if (result.requiresAction) result = await post({ ...body, authentication: await challenge() });
    if (result.error) return { error: result.error };
    const object = result[key];
    if (!object) return { error: { type: 'api_error', message: 'Unexpected answer' } };
    const returnUrl = params.confirmParams?.return_url;
    if (params.redirect !== 'if_required' && returnUrl) redirectTo(returnUrl, object, elements.clientSecret);
    return { [key]: object };
  }

  window.Care360TestCard = () => ({
    elements: (options) => new Elements(options),
    confirmSetup: (params) => confirm(params, 'setupIntent'),
    confirmPayment: (params) => confirm(params, 'paymentIntent'),
  });
})();

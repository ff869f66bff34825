import type { FormWithQuestions } from './repository.ts';

/** Forms kept at the most; the least recently used goes first. */
const MAX_FORMS = 1000;

/**
 * The forms (and their current questions) a process has read, by organization and title, so that the next
 * intake of a form saves the look-up. Never trusted alone: an intake planned from a cached form is written
 * only if the form is still at the cached version (CaseRepository.insertIntake checks it in the same
 * statement), and read again otherwise. So another process changing the form costs one retry, not a wrong
 * write. Bounded, and keyed by organization id first: one organization never sees another's form.
 */
export class FormDefinitionCache {
  private readonly forms = new Map<string, FormWithQuestions>();

  get(organizationId: string, title: string): FormWithQuestions | undefined {
    const key = keyOf(organizationId, title);
    const form = this.forms.get(key);
    if (form) {
      this.forms.delete(key);
      this.forms.set(key, form);
    }
    return form;
  }

  set(organizationId: string, title: string, form: FormWithQuestions): void {
    const key = keyOf(organizationId, title);
    this.forms.delete(key);
    this.forms.set(key, form);
    if (this.forms.size > MAX_FORMS) this.forms.delete(this.forms.keys().next().value!);
  }

  delete(organizationId: string, title: string): void {
    this.forms.delete(keyOf(organizationId, title));
  }
}

const keyOf = (organizationId: string, title: string) => `${organizationId}\u0000${title}`;

// Errors that carry a message meant for a person: one line saying what went wrong and what to do.

/** Which input a refusal is about, so a form can show it beside that field. */
export type InputField = 'name' | 'password' | 'destinations' | 'domain' | 'id' | 'quota' | 'target';

/** Bad input from a person or a client: shown as-is, exit status 1, JSON-RPC error -32602/-32000. */
export class InputError extends Error {
  constructor(
    message: string,
    readonly field?: InputField,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

/** The thing asked for does not exist (an unknown pending id, account or forward). */
export class NotFoundError extends InputError {
  constructor(message: string, field?: InputField) {
    super(message, field);
    this.name = 'NotFoundError';
  }
}

/**
 * The request was fine but cannot be done now for a reason the admin must see as it is (the
 * store file vanished): a runtime failure, exit status 1, JSON-RPC error -32603.
 */
export class UnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnavailableError';
  }
}

/**
 * Whether each named field is absent or one string. A form field sent twice, or with `[]` or
 * `[key]` in its name, parses as an array or an object: type confusion (SECURITY B12), refused
 * with 400 before anything is checked or counted.
 */
export const formFields = (body: Record<string, unknown>, names: string[]) => names.every((n) => body[n] === undefined || typeof body[n] === 'string');
export const MALFORMED_FORM = 'The form was sent in a shape this page does not accept. Reload the page and try again.';

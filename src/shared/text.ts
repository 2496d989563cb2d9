/**
 * Control and invisible characters (bidirectional overrides, zero-width ones, line and
 * paragraph separators, the BOM) that no name or label needs and that make text lie about
 * itself when shown: refused in every profile field, however it arrives.
 */
export const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]/;

/**
 * A setting that start-up finds unusable only once it sees the store (a tier removed from KEYWARD_TIERS
 * while keys use it): Keyward exits 2 with one line naming the variable, as for an invalid value.
 */
export class ConfigurationError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

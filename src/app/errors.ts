/**
 * How starting up fails: a {@link StartupError} (exit code 1) says in one
 * line what could not be done, e.g. a port already taken.
 *
 * @module
 */

/** A runtime failure that stops startup (exit code 1), e.g. a taken port. */
export class StartupError extends Error {
  override name = "StartupError";
}

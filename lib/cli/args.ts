/** Option parsers shared by the command-line programs (commander). */
import { InvalidArgumentError } from 'commander';

/**
 * A commander parser for a positive integer option; the error names the
 * option and the value given.
 */
export function positiveInt(option: string): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${option} expects a positive ` +
        `integer, got '${value}'`);
    }
    return n;
  };
}

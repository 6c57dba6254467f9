/** Polls an asynchronous condition (bounded: `tries` × 25 ms) until it holds; throws naming `what` when it never does. */
export async function until(cond: () => Promise<boolean>, what: string, tries = 400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what}: not within ${tries * 25} ms`);
}

import { describe, expect, it } from 'vitest';
import { limiter } from './limiter.js';

describe('limiter', () => {
  it.each([1, 2, 3, 8])(
    'never runs more than %i tasks at once, even when tasks finish in the same tick and new ones arrive meanwhile',
    async (n) => {
      const limit = limiter(n);
      let running = 0;
      let most = 0;
      let started = 0;
      // every task of a wave waits on the same promise, so a whole wave finishes in one tick
      let release: () => void = () => undefined;
      let wave = new Promise<void>((r) => (release = r));
      const task = async (): Promise<void> => {
        running++;
        started++;
        most = Math.max(most, running);
        await wave;
        running--;
      };
      const all: Promise<void>[] = [];
      // a finished task's caller submits more work at once, as runBattery does after a greeting
      const submit = (): void => {
        all.push(
          limit(task).then(() => {
            if (all.length < 200) submit();
          }),
        );
      };
      for (let i = 0; i < 3 * n + 1; i++) submit();
      for (let rounds = 0; (started < all.length || all.length < 200) && rounds < 1000; rounds++) {
        const done = release;
        wave = new Promise<void>((r) => (release = r));
        done();
        await new Promise((r) => setImmediate(r));
      }
      release();
      await Promise.all(all);
      expect(started).toBe(all.length);
      expect(most).toBe(n);
    },
  );

  it('a task that throws frees its slot', async () => {
    const limit = limiter(1);
    await expect(limit(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limit(() => Promise.resolve(7))).resolves.toBe(7);
  });
});

describe('limiter: what a caller may rely on', () => {
  it('starts tasks in the order they were submitted', async () => {
    const limit = limiter(2);
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        limit(async () => {
          order.push(i);
          await new Promise((r) => setImmediate(r));
        }),
      ),
    );
    expect(order).toEqual([1, 2, 3, 4, 5]);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses %s slots instead of never running anything', (n) => {
    expect(() => limiter(n)).toThrow(`limiter: ${n} is not a positive integer`);
  });
});

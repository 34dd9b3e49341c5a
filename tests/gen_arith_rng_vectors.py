#!/usr/bin/python3
"""Reference outputs of the arithmetic example's generator (splitmix64 seeding
xoshiro256**), written here from the published algorithms, independently of
examples/arithmetic/addition.c. tests/test_arith_data.c pins the printed values.

   /usr/bin/python3 tests/gen_arith_rng_vectors.py
"""
M = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return x, z ^ (z >> 31)


def rotl(v, k):
    return ((v << k) | (v >> (64 - k))) & M


def seed(seed_value, stream):
    # arith_rng_seed: the stream number goes through one splitmix64 step, is
    # XORed into the seed, and the result seeds the four state words.
    _, h = splitmix64(stream)
    x = seed_value ^ h
    state = []
    for _ in range(4):
        x, v = splitmix64(x)
        state.append(v)
    return state


def next_(s):
    r = (rotl((s[1] * 5) & M, 7) * 9) & M
    t = (s[1] << 17) & M
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 45)
    return r


if __name__ == "__main__":
    x, out = 1234567, []
    for _ in range(3):
        x, v = splitmix64(x)
        out.append(v)
    print("splitmix64(1234567):", out)  # the published test vector
    s = [1, 2, 3, 4]
    print("xoshiro256** from state {1,2,3,4}:", [next_(s) for _ in range(4)])
    for sd, stream in [(1, 0), (42, 7)]:
        s = seed(sd, stream)
        print("seed %d stream %d:" % (sd, stream), ["0x%016x" % next_(s) for _ in range(4)])

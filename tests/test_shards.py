"""How a step's matches split into shards: disjoint, whole groups, the turns and concurrency shared out."""

from sparring.training.shards import match_index, shard_concurrency, shard_turns


def test_one_shard_is_the_unsharded_order():
    assert [match_index(1, 4, 0, j) for j in range(10)] == list(range(10))


def test_shards_take_whole_groups_in_turn_and_never_overlap():
    shards, group_size = 3, 2
    taken = {k: [match_index(shards, group_size, k, j) for j in range(6)] for k in range(shards)}
    assert taken[0] == [0, 1, 6, 7, 12, 13]  # groups 0, 3, 6
    assert taken[1] == [2, 3, 8, 9, 14, 15]  # groups 1, 4, 7
    everything = [i for indices in taken.values() for i in indices]
    assert sorted(everything) == list(range(18))


def test_turns_and_concurrency_are_shared_out():
    assert [shard_turns(10, 3, k) for k in range(3)] == [4, 3, 3]
    assert sum(shard_turns(64, 6, k) for k in range(6)) == 64
    assert shard_concurrency(32, 3) == 11 and shard_concurrency(2, 4) == 1

from __future__ import annotations

from patron.core import crypto


def test_a_batch_encrypts_each_value_with_a_nonce_of_its_own() -> None:
    pii = crypto.cipher()
    values = ["+8613800000001", None, "张三", "+8613800000001", ""]
    sealed = pii.encrypt_many(values)
    assert sealed[1] is None
    assert [None if s is None else pii.decrypt(s) for s in sealed] == values
    tokens = [s for s in sealed if s is not None]
    assert all(token.startswith("v1:") for token in tokens)
    assert len({token[3:19] for token in tokens}) == len(tokens)  # the nonces differ
    assert pii.encrypt_many([]) == []


def test_blind_indexes_of_a_batch_are_those_of_each_value() -> None:
    values = ["+8613800000001", "张", ""]
    assert crypto.cipher().blind_indexes("mobile", values) == [
        crypto.blind_index("mobile", value) for value in values
    ]

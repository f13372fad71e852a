from core.auth.passwords import hash_password, needs_rehash, verify_password


def test_argon2id_with_owasp_parameters():
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(h, "correct horse")
    assert not verify_password(h, "wrong")
    assert not verify_password(None, "x")
    assert not verify_password("garbage", "x")
    assert not needs_rehash(h)

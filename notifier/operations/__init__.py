"""Operations: what an operator watches and repairs (survey, sweeper,
certificate expiry)."""

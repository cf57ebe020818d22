from harness.metrics.breakdown import mean_by


def test_mean_by_multi_valued_groups():
    recs = [{"score": 1.0, "g": ["x", "y"]}, {"score": 0.0, "g": ["x"]}, {"score": 1.0, "g": []}]
    assert mean_by(recs, lambda r: r["g"]) == {"x": 50.0, "y": 100.0}
    assert mean_by(recs, lambda r: ["all"], scale=1.0) == {"all": 2 / 3}

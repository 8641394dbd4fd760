"""Chapter 07's real-time recommender, all of it in one place.

    clickstream  a synthetic clickstream with the structure of real ones (and malformed lines)
    model        the algorithm in plain Python: profiles, co-occurrence rows, ranking (the reference)
    evaluate     held-out quality: HitRate@10 and NDCG against a popularity baseline
    pipeline     the Flink job: its functions, ``build``, its readers (what the Python workers import)
    runs         running the job: to the end, paced, replayed live, and timing it
    monitor      the chapter's live dashboard of a replayed run

Nothing is imported here, so a Python worker that needs ``pipeline`` loads only that.
"""

"""The two stores side by side: the library (SQLite + FAISS) and the catalogue (Milvus)."""

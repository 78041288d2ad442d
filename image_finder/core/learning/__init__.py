"""What is learnt on the stored vectors: concepts and the adapter."""

"""The memory store: Chroma collections, the client factory, embedders and the vector cache."""

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>transformers' <c>CLIPTextEmbeddings</c>: token embedding plus learned absolute position embedding.</summary>
internal sealed class CLIPTextEmbeddings : DiffusersModule
{
    private readonly Embedding _tokenEmbedding;
    private readonly Embedding _positionEmbedding;
    private readonly int _maxPositions;

    public CLIPTextEmbeddings(CLIPTextConfig config) : base(nameof(CLIPTextEmbeddings))
    {
        _maxPositions = config.MaxPositionEmbeddings;
        _tokenEmbedding = Layers.Embedding(config.VocabSize, config.HiddenSize);
        _positionEmbedding = Layers.Embedding(config.MaxPositionEmbeddings, config.HiddenSize);
        register_module("token_embedding", _tokenEmbedding);
        register_module("position_embedding", _positionEmbedding);
        // transformers' position_ids buffer is arange(max_positions); it is not persistent, so it is computed here.
    }

    public Tensor Forward(Tensor inputIds)
    {
        var length = inputIds.shape[^1];
        if (length > _maxPositions)
            throw new ArgumentException($"Sequence length {length} exceeds max_position_embeddings {_maxPositions}: tokenize with truncation to {_maxPositions}.", nameof(inputIds));
        using var scope = NewDisposeScope();
        var positions = arange(length, ScalarType.Int64, inputIds.device);
        return (_tokenEmbedding.forward(inputIds) + _positionEmbedding.forward(positions)).MoveToOuterDisposeScope();
    }
}

#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/system/result.hpp>

#include "fleetps/registry/errors.hpp"
#include "fleetps/registry/registration.hpp"

namespace fleetps::registry {

/// Key mode of a Registry, as in Elixir's `keys: :unique | :duplicate`.
enum class Keys {
  kUnique,     ///< a key maps to at most one live entry
  kDuplicate,  ///< a key maps to any number of entries, in registration order
};

/// Liveness of an entry's owner: the entry counts as dead once this expires, even before its
/// token is destroyed (Elixir's "owner is dead but cleanup has not run yet").
using Liveness = std::weak_ptr<const void>;

/// A process registry with Elixir `Registry` semantics for C++ owners.
///
/// `Register` returns a move-only `Registration`; destroying it removes exactly that entry, so a
/// worker that keeps its token in its coroutine frame disappears from the registry when it ends.
/// With `Keys::kUnique` a key held by a live entry is refused with `Errc::kAlreadyRegistered`;
/// a key whose owner died (token destroyed, or its `Liveness` expired) can be registered again
/// at once.
///
/// Thread-safe: every member may be called from any thread. Callbacks given to `Dispatch` and
/// `ForEach` run on the calling thread, outside the registry lock, over a snapshot; they may call
/// back into the registry (including `Register`). As in Elixir, a snapshot may name an owner that
/// has ended in the meantime; callers tolerate that.
///
/// Lifetime: tokens keep only a weak reference to the registry's state, so a registry may be
/// destroyed before its tokens (they then do nothing).
///
/// Example:
/// \code
///   Registry<std::string, HostHandle> hosts{Keys::kUnique};
///   auto reg = hosts.Register("web01", handle);   // result<Registration>
///   if (!reg) { /* Errc::kAlreadyRegistered: a live worker owns web01 */ }
///   hosts.Dispatch("web01", [](const std::vector<HostHandle>& hs) { hs.front().Poke(); });
/// \endcode
template <class Key, class Value, class Hash = std::hash<Key>>
class Registry {
 public:
  explicit Registry(registry::Keys mode) : state_(std::make_shared<State>(mode)) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Registers `value` under `key`. Errors: `Errc::kAlreadyRegistered` (unique mode, live owner).
  [[nodiscard]] boost::system::result<Registration> Register(Key key, Value value) {
    return Register(std::move(key), std::move(value), Liveness{});
  }

  /// As above, with an owner liveness handle: once `alive` expires the entry is treated as dead
  /// (skipped by lookups, replaced by a new unique registration). An empty handle never expires.
  [[nodiscard]] boost::system::result<Registration> Register(Key key, Value value, Liveness alive) {
    std::lock_guard lock(state_->mu);
    auto& ids = state_->by_key[key];
    if (state_->mode == registry::Keys::kUnique) {
      for (std::uint64_t id : ids) {
        if (state_->IsLive(state_->entries.at(id))) {
          return boost::system::error_code(Errc::kAlreadyRegistered);
        }
      }
      // Stale entries of dead owners: the dead owner's token will find nothing to remove.
      for (std::uint64_t id : ids) {
        state_->entries.erase(id);
      }
      ids.clear();
    }
    const std::uint64_t id = state_->next_id++;
    const bool has_liveness = alive.owner_before(Liveness{}) || Liveness{}.owner_before(alive);
    state_->entries.emplace(id, Entry{key, std::move(value), std::move(alive), has_liveness});
    ids.push_back(id);
    return Registration(std::weak_ptr<detail::EntryOwner>(state_), id);
  }

  /// Live values under `key`, in registration order (empty when none).
  [[nodiscard]] std::vector<Value> Lookup(const Key& key) const {
    std::lock_guard lock(state_->mu);
    return state_->Snapshot(key);
  }

  /// The first live value under `key`; for unique registries, the value.
  [[nodiscard]] std::optional<Value> LookupOne(const Key& key) const {
    std::lock_guard lock(state_->mu);
    auto it = state_->by_key.find(key);
    if (it != state_->by_key.end()) {
      for (std::uint64_t id : it->second) {
        const Entry& e = state_->entries.at(id);
        if (state_->IsLive(e)) {
          return e.value;
        }
      }
    }
    return std::nullopt;
  }

  /// Replaces the value of the entry held by `token`. Returns false when the token is empty,
  /// belongs to another registry, or its entry is gone.
  bool UpdateValue(const Registration& token, Value value) {
    std::lock_guard lock(state_->mu);
    if (!token.BelongsTo(state_.get())) {
      return false;
    }
    auto it = state_->entries.find(token.Id());
    if (it == state_->entries.end()) {
      return false;
    }
    it->second.value = std::move(value);
    return true;
  }

  /// Calls `fn(const std::vector<Value>&)` once with the live values under `key`, outside the
  /// lock; not called when there are none. Returns the number of values passed. Exceptions from
  /// `fn` propagate to the caller; the registry is unaffected.
  template <class Fn>
  std::size_t Dispatch(const Key& key, Fn&& fn) const {
    std::vector<Value> values;
    {
      std::lock_guard lock(state_->mu);
      values = state_->Snapshot(key);
    }
    if (!values.empty()) {
      std::forward<Fn>(fn)(std::as_const(values));
    }
    return values.size();
  }

  /// Calls `fn(const Key&, const Value&)` for every live entry of a snapshot, outside the lock.
  template <class Fn>
  void ForEach(Fn&& fn) const {
    std::vector<std::pair<Key, Value>> snapshot;
    {
      std::lock_guard lock(state_->mu);
      snapshot.reserve(state_->entries.size());
      for (const auto& [id, e] : state_->entries) {
        if (state_->IsLive(e)) {
          snapshot.emplace_back(e.key, e.value);
        }
      }
    }
    for (const auto& [k, v] : snapshot) {
      fn(k, v);
    }
  }

  /// Distinct keys with at least one live entry (unspecified order).
  [[nodiscard]] std::vector<Key> Keys() const {
    std::lock_guard lock(state_->mu);
    std::vector<Key> keys;
    for (const auto& [key, ids] : state_->by_key) {
      for (std::uint64_t id : ids) {
        if (state_->IsLive(state_->entries.at(id))) {
          keys.push_back(key);
          break;
        }
      }
    }
    return keys;
  }

  /// Number of live entries.
  [[nodiscard]] std::size_t Size() const {
    std::lock_guard lock(state_->mu);
    std::size_t n = 0;
    for (const auto& [id, e] : state_->entries) {
      n += state_->IsLive(e) ? 1 : 0;
    }
    return n;
  }

  [[nodiscard]] registry::Keys Mode() const noexcept { return state_->mode; }

 private:
  struct Entry {
    Key key;
    Value value;
    Liveness alive;
    bool has_liveness = false;
  };

  struct State final : detail::EntryOwner {
    explicit State(registry::Keys m) : mode(m) {}

    void Unregister(std::uint64_t id) noexcept override {
      std::lock_guard lock(mu);
      auto it = entries.find(id);
      if (it == entries.end()) {
        return;  // replaced after its owner died
      }
      auto k = by_key.find(it->second.key);
      if (k != by_key.end()) {
        std::erase(k->second, id);
        if (k->second.empty()) {
          by_key.erase(k);
        }
      }
      entries.erase(it);
    }

    bool IsLive(const Entry& e) const { return !e.has_liveness || !e.alive.expired(); }

    std::vector<Value> Snapshot(const Key& key) const {
      std::vector<Value> values;
      auto it = by_key.find(key);
      if (it != by_key.end()) {
        for (std::uint64_t id : it->second) {
          const Entry& e = entries.at(id);
          if (IsLive(e)) {
            values.push_back(e.value);
          }
        }
      }
      return values;
    }

    const registry::Keys mode;
    mutable std::mutex mu;
    std::unordered_map<std::uint64_t, Entry> entries;                  // guarded by mu
    std::unordered_map<Key, std::vector<std::uint64_t>, Hash> by_key;  // guarded by mu
    std::uint64_t next_id = 1;                                         // guarded by mu
  };

  std::shared_ptr<State> state_;
};

}  // namespace fleetps::registry

#pragma once

#include <cstdint>
#include <memory>
#include <utility>

namespace fleetps::registry {

namespace detail {

/// What a Registration points back to: the shared state of a Registry.
class EntryOwner {
 public:
  virtual ~EntryOwner() = default;
  virtual void Unregister(std::uint64_t id) noexcept = 0;
};

}  // namespace detail

/// RAII token for one registry entry, returned by `Registry::Register`.
///
/// Move-only. Destroying it (or calling `Reset()`) removes exactly the entry it was created for,
/// never a newer registration of the same key: this is the "process died" path of an Elixir
/// Registry, so a worker keeps its token in its coroutine frame and its entry vanishes when the
/// worker ends, however it ends. The token holds only a weak reference to the registry, so it may
/// outlive the registry (it then does nothing). Not thread-safe itself: one owner at a time.
class Registration {
 public:
  Registration() = default;
  Registration(std::weak_ptr<detail::EntryOwner> owner, std::uint64_t id) noexcept
      : owner_(std::move(owner)), id_(id) {}
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  Registration(Registration&& other) noexcept
      : owner_(std::move(other.owner_)), id_(std::exchange(other.id_, 0)) {}
  Registration& operator=(Registration&& other) noexcept {
    if (this != &other) {
      Reset();
      owner_ = std::move(other.owner_);
      id_ = std::exchange(other.id_, 0);
    }
    return *this;
  }
  ~Registration() { Reset(); }

  /// Unregisters now; afterwards the token is empty. Idempotent.
  void Reset() noexcept {
    if (id_ != 0) {
      if (auto owner = owner_.lock()) {
        owner->Unregister(id_);
      }
    }
    owner_.reset();
    id_ = 0;
  }

  /// True while the token holds an entry (not moved-from, not reset).
  [[nodiscard]] explicit operator bool() const noexcept { return id_ != 0; }

  /// Registry-wide unique id of the entry (0 when empty).
  [[nodiscard]] std::uint64_t Id() const noexcept { return id_; }

  /// True when this token was issued by the registry whose state is `owner`.
  [[nodiscard]] bool BelongsTo(const detail::EntryOwner* owner) const noexcept {
    return id_ != 0 && owner_.lock().get() == owner;
  }

 private:
  std::weak_ptr<detail::EntryOwner> owner_;
  std::uint64_t id_ = 0;
};

}  // namespace fleetps::registry
